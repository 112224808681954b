"""bybitctl.mm."""
