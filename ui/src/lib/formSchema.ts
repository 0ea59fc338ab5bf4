// The submit form comes from each plugin's JSON Schema alone, so a plugin
// dropped in later gets a working form with no change here. What this adds is
// generic: placeholders from the schema's `examples`, the page (not the form)
// showing the title and description, and a validator for draft 2020-12, the
// dialect the shipped plugins declare.
import type { RJSFSchema, UiSchema } from "@rjsf/utils";
import { customizeValidator } from "@rjsf/validator-ajv8";
import Ajv2020 from "ajv/dist/2020";

export const validator = customizeValidator({ AjvClass: Ajv2020 });

/** The schema as the form shows it: without the root title and description, which the page shows. */
export function formSchema(schema: RJSFSchema): RJSFSchema {
  const { title: _title, description: _description, examples: _examples, ...rest } = schema;
  return rest as RJSFSchema;
}

export function deriveUiSchema(schema: RJSFSchema): UiSchema {
  const properties = (schema.properties ?? {}) as Record<string, RJSFSchema | boolean>;
  const required = (Array.isArray(schema.required) ? schema.required : []).filter((name) => name in properties);
  const ui: UiSchema = {
    "ui:submitButtonOptions": { submitText: "Submit job" },
    // Required fields first, in the schema's `required` order, then the rest:
    // the order of `properties` does not survive every JSON library.
    "ui:order": [...new Set(required), "*"],
  };
  for (const [name, property] of Object.entries(properties)) {
    if (typeof property !== "object") continue;
    const example = Array.isArray(property.examples) ? property.examples[0] : undefined;
    if (example !== undefined && (typeof example === "string" || typeof example === "number")) {
      ui[name] = { "ui:placeholder": `e.g. ${example}` };
    }
  }
  return ui;
}

/** The fields of a schema for a summary: name, title, whether required. */
export function describeFields(schema: RJSFSchema): { name: string; title: string; required: boolean }[] {
  const required = new Set(Array.isArray(schema.required) ? schema.required : []);
  const properties = (schema.properties ?? {}) as Record<string, RJSFSchema | boolean>;
  return Object.entries(properties).map(([name, property]) => ({
    name,
    title: typeof property === "object" && typeof property.title === "string" ? property.title : name,
    required: required.has(name),
  }));
}
