"""Notices to families and staff: plan -> verify -> send, with the disclosure guard in the send path."""
