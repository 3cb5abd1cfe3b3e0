export * from "./direction.js";
