export default { dialect: 'sqlite', schema: './schema.js', out: './drizzle' }
