// Search results: a snippet is the page's text around the match, formulas
// included as their TeX source; show that source without MathJax's delimiters
// \( \) \[ \] (MathJax does not run on the search page). Jupyter Book adds every
// .js file of _static/ to every page; this one acts on the search page only.
(() => {
  const delimiters = /\\\(|\\\)|\\\[|\\\]|\$\$/g;
  const patch = () => {
    if (typeof Search === "undefined" || Search.nnfsPatched) return;
    const summarize = Search.makeSearchSummary;
    Search.makeSearchSummary = (htmlText, keywords, anchor) => {
      const summary = summarize(htmlText, keywords, anchor);
      if (summary) summary.textContent = summary.textContent.replace(delimiters, "");
      return summary;
    };
    Search.nnfsPatched = true;
  };
  patch();
  document.addEventListener("DOMContentLoaded", patch);
})();
