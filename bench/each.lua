-- One token request per line of a file, for bench/run.sh: each request spends what its line
-- holds (a device code, a DPoP proof), as a real client's would.
--   WRK_COMMON=../shared/peers/wrk/common.lua wrk -s bench/each.lua URL -- file=FILE \
--     body='grant_type=…&device_code={}' [header=dpop] [client=ID secret=SECRET] [expect=…] \
--     [path=/oauth/token]
-- The line goes where `{}` is in the body, or, with `header=NAME`, into that header. Requests
-- past the end of the file repeat the last line and count as bad.
dofile(os.getenv('WRK_COMMON'))

local lines, next_line, head, body, header, path = {}, 1, nil, nil, nil, nil

function init(args)
  local o = parse_args(args)
  expect = o.expect or 'access_token'
  for line in io.lines(o.file) do lines[#lines + 1] = line end
  head = { ['Content-Type'] = 'application/x-www-form-urlencoded', ['Accept'] = 'application/json' }
  if o.secret then head['Authorization'] = basic_auth(o) end
  body, header, path = o.body, o.header, o.path or '/oauth/token'
end

function request()
  local line = lines[math.min(next_line, #lines)]
  next_line = next_line + 1
  if header then
    head[header] = line
    return wrk.format('POST', path, head, body)
  end
  return wrk.format('POST', path, head, (body:gsub('{}', line)))
end
