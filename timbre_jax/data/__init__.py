"""Studies, ratings and features on disk, validated once: registry, download, store, files, studies, sounds,
datasets (loading), upstream (store check and repair), imported (your own features)."""
