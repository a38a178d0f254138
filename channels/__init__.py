"""Channel adapters: the outside world in (envelopes) and out (notices).

A channel never imports the registrar or the forwarder; inbound it calls the
``Sink`` it was given, outbound it implements ``contract.notice.Deliverer``.
"""
