"""bybitctl.commands."""
