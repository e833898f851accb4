// Draws every chart of a page: each element with data-chart-url gets the plotly figure that
// the cached JSON endpoint returns. data-state says "loading", "ready" or "error" (for tests).
(function () {
  "use strict";
  var config = { responsive: true, displaylogo: false, modeBarButtonsToRemove: ["lasso2d", "select2d"] };

  function showError(element, message) {
    element.dataset.state = "error";
    element.textContent = "This chart could not be loaded: " + message;
    element.classList.add("chart-error");
  }

  function draw(element) {
    element.dataset.state = "loading";
    fetch(element.dataset.chartUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        return response.json().then(function (body) {
          if (!response.ok) {
            throw new Error(body.error || response.statusText);
          }
          return body;
        });
      })
      .then(function (figure) {
        element.textContent = "";
        return Plotly.newPlot(element, figure.data, figure.layout, config);
      })
      .then(function () {
        element.dataset.state = "ready";
      })
      .catch(function (error) {
        showError(element, error.message);
      });
  }

  document.querySelectorAll("[data-chart-url]").forEach(draw);
})();
