"""Studies, ratings and features on disk, validated once: registry, download, store, files, studies, datasets."""
