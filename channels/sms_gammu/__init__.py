"""SMS through a GSM modem (python-gammu): citizens text in, notices go out.

``gammu_sms_channel`` is the long-lived resource; ``GammuDeliverer`` the
outbound adapter; ``write_incoming_sms`` feeds the dummy phone for demos.
"""

from channels.sms_gammu.adapter import GammuSmsChannel, PollReport, gammu_sms_channel
from channels.sms_gammu.deliver import GammuDeliverer
from channels.sms_gammu.demo import write_incoming_sms

__all__ = [
    "GammuDeliverer",
    "GammuSmsChannel",
    "PollReport",
    "gammu_sms_channel",
    "write_incoming_sms",
]
