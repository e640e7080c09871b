"""Statistics on fits and ratings: bootstrap, rank metrics, scores, and the methods of the analyses."""
