"""The voice agent: one Pipecat session per answered attempt (see session.py), hosted by host.py.

Pipecat imports stay inside this package, pinned to 1.14.
"""
