"""What every call of the line that plays prompts shares: its audio, its player.

``PhoneCall`` (a caller) and ``OutboundCall`` (a call the line places) both
take the call's audio when pjsua reports it active, play a list of WAVs into
it and stop the player before the next one; an agent leg plays nothing and
does not use this. Runs in the Endpoint's thread like the calls themselves.
"""

from __future__ import annotations

import contextlib
import logging
from typing import Any

import pjsua2 as pj

from channels.sip.menu import Action

log = logging.getLogger(__name__)


class MediaCall(pj.Call):  # type: ignore[misc]
    """A pjsua2 call with the audio it plays into; ``answered`` runs once media is up."""

    key: str = ""
    media: Any = None
    player: Any = None

    def carry_out(self, actions: list[Action]) -> None:
        """Do what the call's menu or script decided, one action after the other."""
        for action in actions:
            try:
                self.do(action)
            except pj.Error as exc:  # a call torn down under us: its hang-up event comes next
                log.warning("call %s: %s failed: %s", self.key, type(action).__name__, exc.info())

    def do(self, action: Action) -> None:
        """Carry out one action (each kind of call knows its own)."""
        raise NotImplementedError

    def onCallMediaState(self, prm: Any) -> None:
        ci = self.getInfo()  # bound before its media are read (the temporary is freed)
        for index, media in enumerate(ci.media):
            if media.type == pj.PJMEDIA_TYPE_AUDIO and media.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                first = self.media is None
                self.media = self.getAudioMedia(index)
                if first:
                    self.answered()
                return

    def answered(self) -> None:
        """The other side hears us now (once per call)."""

    def stop_player(self) -> None:
        if self.player is not None and self.media is not None:
            with contextlib.suppress(pj.Error):
                self.player.stopTransmit(self.media)
        self.player = None

    def start_player(self, paths: list[str]) -> None:
        """Play ``paths`` one after the other into the call (nothing before media is up)."""
        self.stop_player()
        if self.media is None or not paths:
            return
        player = pj.AudioMediaPlayer()
        if len(paths) == 1:
            player.createPlayer(paths[0], pj.PJMEDIA_FILE_NO_LOOP)
        else:
            player.createPlaylist(paths, "prompts", pj.PJMEDIA_FILE_NO_LOOP)
        player.startTransmit(self.media)
        self.player = player
