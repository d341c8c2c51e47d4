"""Second-order operators: Hessians and second derivatives, Hessian-vector products."""
