// The transcript's print button: the browser's print dialog saves it as a PDF.
document.addEventListener("DOMContentLoaded", () => {
  const button = document.getElementById("print-transcript");
  if (button) button.addEventListener("click", () => window.print());
});
