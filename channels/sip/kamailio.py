"""Kamailio in front of a pool of workers: the configuration, written from ``[sip]``.

One pjsua2 worker holds four calls; Kamailio's ``dispatcher`` spreads INVITEs
over the workers round robin, probes each with OPTIONS every 2 s (a dead
worker is out within about 2 s, back about 3 s after its restart), and on 486,
5xx or a timeout tries the next worker. ``record_route`` keeps Kamailio in the
dialog, ``pike`` drops sources that flood (never the trunk's own address), and
a ``dialog`` profile caps concurrent calls per caller number, and ``pipelimit``
caps new calls a second for the whole pool (trunk included: it protects the
workers' pjlib ioqueue from fast churn, see ``gate.py``) with 503 and
Retry-After. A worker's own 503 (its set-up gate) sends the call to the next
worker without marking that one down. Pure text:
``python -m channels.sip.kamailio OUT_DIR`` writes ``kamailio.cfg`` and
``dispatcher.list``; run ``kamailio -f OUT_DIR/kamailio.cfg -Y RUNDIR -DD -E``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from channels.sip.settings import SipSettings

MODULES = ("kex", "tm", "tmx", "sl", "rr", "pv", "maxfwd", "textops", "siputils", "xlog", "sanity",
           "ctl", "htable", "pike", "dispatcher", "dialog", "pipelimit")


def dispatcher_list(settings: SipSettings, *, ports: list[int] | None = None) -> str:
    """Set 1: every worker's SIP address (``ports`` when they were bound as 0)."""
    chosen = ports or [settings.worker_sip_port(i) for i in range(settings.workers)]
    return "".join(f"1 sip:{settings.host}:{port}\n" for port in chosen)


def config(settings: SipSettings, list_path: Path, *, listen_port: int | None = None) -> str:
    """The kamailio.cfg text."""
    port = listen_port or settings.kamailio_port
    loads = "\n".join(f'loadmodule "{name}.so"' for name in MODULES)
    trunk = settings.trunk_address or "0.0.0.0"
    setups = settings.kamailio_setups_per_worker_s * settings.workers
    return f"""#!KAMAILIO
# Written by channels/sip/kamailio.py from the [sip] settings: regenerate, do not edit.
debug=1
log_stderror=yes
fork=yes
children=2
listen=udp:{settings.host}:{port}
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
{loads}
modparam("tm", "fr_timer", 2000)
modparam("tm", "fr_inv_timer", 30000)
modparam("dispatcher", "list_file", "{list_path}")
modparam("dispatcher", "flags", 2)
modparam("dispatcher", "ds_ping_method", "OPTIONS")
modparam("dispatcher", "ds_ping_interval", 2)
modparam("dispatcher", "ds_probing_mode", 1)
modparam("dispatcher", "ds_probing_threshold", 1)
modparam("dispatcher", "ds_inactive_threshold", 1)
modparam("dispatcher", "ds_ping_reply_codes", "class=2")
modparam("pike", "sampling_time_unit", 2)
modparam("pike", "reqs_density_per_unit", {settings.kamailio_invites_per_2s})
modparam("pike", "remove_latency", 4)
modparam("htable", "htable", "ban=>size=8;autoexpire=60;")
modparam("dialog", "profiles_with_value", "caller")
modparam("pipelimit", "timer_interval", 1)
modparam("pipelimit", "reply_code", 503)
modparam("pipelimit", "reply_reason", "Too Many Calls")
modparam("ctl", "binrpc", "unix:/tmp/hotline-kamailio-{port}.ctl")

request_route {{
    if (!mf_process_maxfwd_header("10")) {{ sl_send_reply("483", "Too Many Hops"); exit; }}
    if (!sanity_check("17895", "7")) {{ exit; }}
    if (src_ip != {trunk} && (is_method("INVITE") || is_method("REGISTER"))) {{
        if ($sht(ban=>$si) != $null) {{ exit; }}
        if (!pike_check_req()) {{ $sht(ban=>$si) = 1; exit; }}
    }}
    if (has_totag()) {{
        if (loose_route()) {{ t_relay(); exit; }}
        if (is_method("ACK")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
        sl_send_reply("404", "Not here"); exit;
    }}
    if (is_method("CANCEL")) {{ if (t_check_trans()) {{ t_relay(); }} exit; }}
    if (is_method("OPTIONS") && uri == myself) {{ sl_send_reply("200", "OK"); exit; }}
    if (!is_method("INVITE")) {{ sl_send_reply("405", "Method Not Allowed"); exit; }}
    if ($fU != $null && $fU != "anonymous") {{
        get_profile_size("caller", "$fU", "$var(calls)");
        if ($var(calls) >= {settings.kamailio_calls_per_number}) {{
            sl_send_reply("486", "Busy Here"); exit;
        }}
        dlg_manage();
        set_dlg_profile("caller", "$fU");
    }}
    if (!pl_check("setups", "TAILDROP", {setups})) {{ pl_drop("1", "2"); exit; }}
    record_route();
    if (!ds_select_dst("1", "4")) {{ sl_send_reply("503", "No worker"); exit; }}
    t_on_failure("NEXT_WORKER");
    t_relay();
    exit;
}}

failure_route[NEXT_WORKER] {{
    if (t_is_canceled()) {{ exit; }}
    # 503 is a worker's set-up gate (Retry-After): busy for now, not down.
    if ((t_check_status("5[0-9][0-9]") && !t_check_status("503"))
            || (t_branch_timeout() && !t_branch_replied())) {{
        ds_mark_dst("ip");
    }}
    if (t_check_status("486|480|5[0-9][0-9]") || t_branch_timeout()) {{
        if (ds_next_dst()) {{ t_on_failure("NEXT_WORKER"); t_relay(); exit; }}
        send_reply("486", "Busy Here");
    }}
}}
"""


def write(settings: SipSettings, directory: Path) -> tuple[Path, Path]:
    """Write ``kamailio.cfg`` and ``dispatcher.list`` into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    listing, cfg = directory / "dispatcher.list", directory / "kamailio.cfg"
    listing.write_text(dispatcher_list(settings))
    cfg.write_text(config(settings, listing))
    return cfg, listing


def main(argv: list[str]) -> int:
    """``python -m channels.sip.kamailio OUT_DIR``: the configuration for the configured pool."""
    from config.settings import load_settings

    settings = load_settings(sections={"sip": SipSettings}).channel("sip", SipSettings)
    cfg, listing = write(settings, Path(argv[1] if len(argv) > 1 else "var/kamailio"))
    print(f"wrote {cfg} and {listing}: {settings.workers} worker(s) behind udp:{settings.host}:"
          f"{settings.kamailio_port}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
