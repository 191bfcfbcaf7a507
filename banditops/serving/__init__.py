"""The decision service's in-process machinery: the posterior cache, the recommender, the decision log."""
