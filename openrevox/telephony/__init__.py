"""Carriers: the Carrier protocol and its implementations (sandbox, later Twilio and Telnyx)."""
