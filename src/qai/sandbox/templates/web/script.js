document.getElementById("message").dataset.ready = "true";
