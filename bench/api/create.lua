-- POST /api/v1/videos with a valid body.
wrk.method = "POST"
wrk.body = '{"prompt":"Explain the Pythagorean theorem with visual proof",' ..
           '"model":"claude-4-sonnet","voice":"Joanna"}'
wrk.headers["Content-Type"] = "application/json"
