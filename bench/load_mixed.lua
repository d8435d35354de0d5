-- load_mixed.lua — wrk script for bench/load.sh: rotates single-instance :predict, a dataset
-- read, a page of dataset rows and the run listing (2 of 5 requests are :predict).
local reqs = {}
local n = 0
function init(args)
  local predict = '{"instances":[[0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,0.1,0.2,0.3]]}'
  local h = { ["Content-Type"] = "application/json" }
  reqs[1] = wrk.format("POST", "/v1/models/lm:predict", h, predict)
  reqs[2] = wrk.format("GET", "/api/v1/datasets/ds_1")
  reqs[3] = wrk.format("POST", "/v1/models/lm:predict", h, predict)
  reqs[4] = wrk.format("GET", "/api/v1/runs?limit=20")
  reqs[5] = wrk.format("GET", "/api/v1/datasets/ds_1/rows?limit=10&offset=100")
end
function request()
  n = n + 1
  return reqs[(n % #reqs) + 1]
end
