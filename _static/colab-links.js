// Colab opens .ipynb files only, but chapters are MyST markdown (.md) in the repository. The
// book build writes each executed chapter as a notebook into the site (_sources/<page>.ipynb);
// when the site is published on the `gh-pages` branch (ghp-import), Colab can open it from there.
// This rewrites the theme's Colab link on markdown pages accordingly; labs are .ipynb already.
// It assumes the book sits at the repository root (`path_to_book: ""` in _config.yml).
(function () {
  "use strict";
  var PUBLISHED_BRANCH = "gh-pages";
  function fixColabLinks() {
    var links = document.querySelectorAll('a[href^="https://colab.research.google.com/github/"]');
    links.forEach(function (link) {
      var href = link.getAttribute("href");
      // .../github/<org>/<repo>/blob/<branch>/<path>.md -> .../blob/gh-pages/_sources/<path>.ipynb
      var match = href.match(/^(https:\/\/colab\.research\.google\.com\/github\/[^/]+\/[^/]+\/blob\/)[^/]+\/(.+)\.md$/);
      if (match) {
        link.setAttribute("href", match[1] + PUBLISHED_BRANCH + "/_sources/" + match[2] + ".ipynb");
      }
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", fixColabLinks);
  } else {
    fixColabLinks();
  }
})();
