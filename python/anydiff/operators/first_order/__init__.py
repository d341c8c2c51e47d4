"""First-order operators: Jacobians and derivatives, gradients, pushforwards, pullbacks."""
