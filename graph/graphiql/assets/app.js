// Starts GraphiQL on the page served by package graphiql. It lives in its
// own file so that the page's Content-Security-Policy needs no inline script.
(function () {
  'use strict';
  var el = document.getElementById('graphiql');
  var endpoint = el.getAttribute('data-endpoint');
  var fetcher = GraphiQL.createFetcher({ url: endpoint });
  var headers = '{\n  "Authorization": "Bearer <API key or access token>"\n}';
  ReactDOM.createRoot(el).render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultHeaders: headers,
      isHeadersEditorEnabled: true,
      // Headers hold API keys: keep them out of localStorage.
      shouldPersistHeaders: false,
      defaultEditorToolsVisibility: 'headers',
    })
  );
})();
