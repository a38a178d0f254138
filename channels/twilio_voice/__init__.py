"""Voice calls through Twilio: a Mandarin menu in TwiML, voicemail registered as a case.

See README.md in this folder; ``spec.SPEC`` is what the registry starts.
"""
