"""Pure cache placement: hostPath layout and node preference."""
