import { render } from "preact";
import { App } from "./app.js";
import "./style.css";

render(<App />, document.getElementById("app")!);
// time to first render (docs/console.md): from navigation start to the first painted view
performance.mark("sigil-console-rendered");
