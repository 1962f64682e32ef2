"""Chatters: who wrote what (shift attribution), chatter KPIs, and conversation QA."""
