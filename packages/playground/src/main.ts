/** Entry point of the playground page. */
import "./styles.css";
import { mountApp } from "./app.js";
import { DEMO_BACKENDS, demoStory } from "./demo.js";

mountApp(document.getElementById("app")!, { backends: DEMO_BACKENDS, story: demoStory });
