# Settings for every board of any inventory in this directory (pyinfra group "all").
# Keys and defaults: the README's settings table (made from jetson_ollama/defaults.py).
# Examples:
#   ollama_keep_alive = "10m"
#   jetson_image_strategy = "build"
#   jetson_containers_commit = "16f7cf4145d9f943230b4c92bc2183853a2aeb30"
#   jetson_containers_commit_date = "YYYY-MM-DD"   # that commit's date: lets a first build name its image
