"""Blasts: mass messages to a segment, recorded before they are sent, measured after."""
