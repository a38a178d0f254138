"""Intake: the envelope every channel produces, normalisation, screening hints and
the composition root (service, CLI) that wires channels to the registrar."""
