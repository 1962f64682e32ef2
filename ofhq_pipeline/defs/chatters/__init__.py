"""Chatter performance and conversation QA assets (group `chatters`)."""
