"""The reward and its vocabulary: Pearson, reductions, ratings, problems, status codes."""
