import { memoryPglite } from '../helpers/databases.js';
import { rowSecuritySuite } from './row-security-suite.js';

rowSecuritySuite('PGlite', memoryPglite);
