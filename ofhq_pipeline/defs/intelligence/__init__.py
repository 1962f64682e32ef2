"""Fan intelligence: the classifier asset over each creator's chats (classifier.md)."""
