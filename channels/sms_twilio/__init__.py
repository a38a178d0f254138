"""SMS through Twilio: the inbound webhook, reconciliation through the REST API, and sends.

The lead mounts ``add_twilio_routes`` on the app (it owns the HTTP session and,
by default, runs the reconciliation job in the app's ``cleanup_ctx``) and
builds a ``TwilioDeliverer`` for the outbox. See README.md in this folder.
"""

from .deliver import TwilioDeliverer
from .handling import Kind, Outcome, process
from .reconcile import Reconciler, ReconcileState, reconcile_job, state_path
from .webhook import (
    SMS_PATH,
    STATUS_PATH,
    StatusRecorder,
    add_twilio_routes,
    handle_sms,
    handle_status,
    twilio_http,
)

__all__ = [
    "SMS_PATH",
    "STATUS_PATH",
    "Kind",
    "Outcome",
    "ReconcileState",
    "Reconciler",
    "StatusRecorder",
    "TwilioDeliverer",
    "add_twilio_routes",
    "handle_sms",
    "handle_status",
    "process",
    "reconcile_job",
    "state_path",
    "twilio_http",
]
