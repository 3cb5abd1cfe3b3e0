export * from "./id-registers.js";
