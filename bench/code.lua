-- The authorization-code exchange with an ID token, one code per request, for bench/run.sh.
--   WRK_COMMON=../shared/peers/wrk/common.lua wrk -s bench/code.lua URL -- \
--     codes=FILE client=ID secret=SECRET redirect_uri=URI verifier=V [expect=id_token] [path=/oauth/token]
-- FILE holds one unused code per line (bench/seed.py codes writes them); requests past the
-- end of the file repeat the last code and count as bad.
dofile(os.getenv('WRK_COMMON'))

local codes, next_code, head, body_rest, path = {}, 1, nil, nil, nil

function init(args)
  local o = parse_args(args)
  expect = o.expect or 'id_token'
  path = o.path or '/oauth/token'
  for line in io.lines(o.codes) do codes[#codes + 1] = line end
  head = {
    ['Authorization'] = basic_auth(o),
    ['Content-Type'] = 'application/x-www-form-urlencoded',
    ['Accept'] = 'application/json',
  }
  body_rest = '&redirect_uri=' .. urlencode(o.redirect_uri) .. '&code_verifier=' .. o.verifier
end

function request()
  local code = codes[math.min(next_code, #codes)]
  next_code = next_code + 1
  return wrk.format('POST', path, head,
    'grant_type=authorization_code&code=' .. code .. body_rest)
end
