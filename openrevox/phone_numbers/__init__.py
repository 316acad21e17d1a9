"""Phone numbers: the organization's caller ids, and which assistant answers each one."""
