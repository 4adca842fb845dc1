"""Weak signals: observations worth remembering for attack sequences, never a page on their own."""
