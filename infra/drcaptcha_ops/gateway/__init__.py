"""The local gateway, API Gateway in front of the template's functions and web/, hosted by functions-framework.

- `app`: the host (`create_gateway`, `running_gateway`, the functions-framework target) and the dispatch;
- `routes`: the template's HttpApi events as routes, in API Gateway's order, with their CORS rules;
- `events`: the API Gateway HTTP API v2 event a request becomes, and the HTTP reply a handler's return becomes;
- `web`: the files of web/, served where no route takes the request.

The functions themselves run through `drcaptcha_ops.lambda_runner`, which the stream poller uses too.
"""
