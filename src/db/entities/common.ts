import { uuidv7 } from "../../core/ids.js";

/** Property definitions every table shares: a UUIDv7 id and creation/update times. */
export const idProperty = { type: "uuid", primary: true, onCreate: () => uuidv7() } as const;
export const createdAtProperty = { type: "Date", columnType: "timestamptz", onCreate: () => new Date() } as const;
export const updatedAtProperty = {
  type: "Date",
  columnType: "timestamptz",
  onCreate: () => new Date(),
  onUpdate: () => new Date(),
} as const;
export const timestamp = { type: "Date", columnType: "timestamptz" } as const;
export const optionalTimestamp = { type: "Date", columnType: "timestamptz", nullable: true } as const;
