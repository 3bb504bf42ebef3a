"""Media: OpenAI's images and audio endpoints (``/v1/images/*``, ``/v1/audio/*``) and a
Gemini client's image output, as jobs of the request pipeline (``jobs``). A feature
package: it imports the pipeline (``gateway.core``) and plugs into it through
``gateway.base.hooks`` (``plugin``, from ``GatewayConfig.ready``); core never imports it.
Media URLs inlined into chat requests are not this package's: ``gateway.core``."""
