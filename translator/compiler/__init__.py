"""Pure: pipeline config + execution context + setting -> plan -> engine output."""
