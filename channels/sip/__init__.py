"""Phone line: SIP worker processes (pjsua2) with a Mandarin voice menu, supervised by the service.

``spec.SPEC`` starts the pool where the ``sip`` role runs; ``menu.Menu`` is the
call flow as a pure state machine; ``service.LineService`` answers the workers
with the service's ports. See README.md.
"""
