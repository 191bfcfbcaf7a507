"""Pure maths, numpy/scipy only: reward models, posteriors, policies, drift detectors, convergence, regret."""
