"""The exchange's core: instruments, books, order entry, matching, triggers, settlement and
accounts. Synchronous and deterministic; it imports nothing from the other layers."""
