{
  "targets": [
    {
      "target_name": "edgewise_can",
      "sources": ["edgewise_can.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "conditions": [["OS!='linux'", {"type": "none", "sources!": ["edgewise_can.c"]}]]
    }
  ]
}
