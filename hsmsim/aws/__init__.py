"""
The generic AWS JSON 1.1 layer, driven by botocore's service models; it knows no service.

* :mod:`~hsmsim.aws.spec`: ``load_service_model(name)``, the pinned botocore models;
* :mod:`~hsmsim.aws.protocol`: :class:`~hsmsim.aws.protocol.JsonProtocol` routes ``X-Amz-Target``, parses
  and validates requests, serializes results and errors (built from :mod:`~hsmsim.aws.shapes`,
  :mod:`~hsmsim.aws.parser`, :mod:`~hsmsim.aws.validate`, :mod:`~hsmsim.aws.serializer` and
  :mod:`~hsmsim.aws.patterns`);
* :mod:`~hsmsim.aws.errors`: :class:`~hsmsim.aws.errors.ServiceError` and the framework-level errors;
* :mod:`~hsmsim.aws.sigv4`: account and region from the SigV4 credential scope, and SigV4 verification with
  ``hsmsim serve --credentials`` (:mod:`~hsmsim.aws.credentials`: the credentials file);
* :mod:`~hsmsim.aws.context`: the :class:`~hsmsim.aws.context.RequestContext` given to every operation;
* :mod:`~hsmsim.aws.dispatch`: calling ``service.create_cluster(context, **kwargs)`` for ``CreateCluster``.

Nothing here does HTTP; the aiohttp handler glues these pieces together.
"""
